// warc_read.mjs FILE - reads a WARC (.warc or .warc.gz) with warcio, an
// independent reader, for tests/crawler/test_warc.c.
//
// Prints one line per record, fields separated by tabs:
//   type  target-uri  status  payload-length  content-length  block  payload  record-id  concurrent-to
// status is the HTTP status of a response and the method of a request;
// payload-length counts the bytes after the HTTP headers as stored and
// content-length those after warcio undoes the transfer and content codings
// the headers declare; block and payload say whether WARC-Block-Digest and
// WARC-Payload-Digest match a SHA-1 computed here ("ok", "bad:SHA1:...", or
// "none" when the record has none).  Absent values print as "-".  A last line
// "records N" closes the listing.  Exits 1 with a message on a parse error.
//
// warcio (npm, >= 2, ESM and CommonJS, Node >= 18) is looked up in
// $SPINDLE_NPM_DIR (default /tmp/spindle-npm; `npm install --prefix DIR
// warcio@2` puts it there), then where Node finds packages by itself.
// warcio verifies no digests, hence the three passes over the file: the
// whole block (parseHttp off), the raw payload, the decoded content.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

async function loadWarcio() {
  const dir = path.resolve(process.env.SPINDLE_NPM_DIR || '/tmp/spindle-npm');
  try {
    return createRequire(path.join(dir, 'package.json'))('warcio');
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
  }
  return import('warcio');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes) {
  let out = '', acc = 0, bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

function verdict(claimed, data) {
  if (!claimed) return 'none';
  const computed = 'sha1:' + base32(createHash('sha1').update(data).digest());
  return claimed === computed ? 'ok' : 'bad:' + computed;
}

// Calls fn(record) for every record of the file, in order.
async function eachRecord(WARCParser, file, parseHttp, fn) {
  const parser = new WARCParser(createReadStream(file), { parseHttp });
  for await (const record of parser) await fn(record);
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node warc_read.mjs FILE');
    process.exit(2);
  }
  const { WARCParser } = await loadWarcio();

  const rows = [];
  await eachRecord(WARCParser, file, false, async (r) => {
    const block = await r.readFully(false);
    const get = (name) => r.warcHeaders.headers.get(name);
    rows.push({
      type: r.warcType,
      uri: get('WARC-Target-URI') || '-',
      id: get('WARC-Record-ID') || '-',
      concurrent: get('WARC-Concurrent-To') || '-',
      block: verdict(get('WARC-Block-Digest'), block),
      payloadDigest: get('WARC-Payload-Digest'),
    });
  });

  let i = 0;
  await eachRecord(WARCParser, file, true, async (r) => {
    const row = rows[i++];
    const payload = await r.readFully(false);
    const http = r.httpHeaders;
    row.status = http ? String(r.warcType === 'request' ? http.method : http.statusCode) : '-';
    row.payloadLen = payload.length;
    row.payload = verdict(row.payloadDigest, payload);
  });

  i = 0;
  await eachRecord(WARCParser, file, true, async (r) => {
    rows[i++].contentLen = (await r.readFully(true)).length;
  });

  for (const r of rows)
    console.log([r.type, r.uri, r.status, r.payloadLen, r.contentLen, r.block, r.payload, r.id,
      r.concurrent].join('\t'));
  console.log(`records ${rows.length}`);
}

main().catch((e) => {
  console.error(`warc_read.mjs: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
