/*
 * spindle/spindle.h - everything spindle offers, in one include: the
 * scheduler's headers (error, buf, runtime, sync, channel, fd), io's (io,
 * dns, http) and the version.
 */
#ifndef SPINDLE_SPINDLE_H
#define SPINDLE_SPINDLE_H

#include "spindle/version.h"
#include "spindle/error.h"
#include "spindle/buf.h"
#include "spindle/runtime.h"
#include "spindle/sync.h"
#include "spindle/channel.h"
#include "spindle/io.h"
#include "spindle/dns.h"
#include "spindle/http.h"

#endif
