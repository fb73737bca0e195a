/* spindle/spindle.h - everything spindle offers, in one include. */
#ifndef SPINDLE_SPINDLE_H
#define SPINDLE_SPINDLE_H

#include "spindle/error.h"
#include "spindle/buf.h"
#include "spindle/runtime.h"
#include "spindle/sync.h"
#include "spindle/channel.h"
#include "spindle/io.h"
#include "spindle/dns.h"
#include "spindle/http.h"

#define SPINDLE_VERSION_MAJOR 0
#define SPINDLE_VERSION_MINOR 1
#define SPINDLE_VERSION_PATCH 0
#define SPINDLE_VERSION_STRING "0.1.0"

#endif
