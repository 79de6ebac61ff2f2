// Preloaded with `node --require` by the startup test: records every module the CLI loads
// (CommonJS requires and ESM imports) and prints the list to fd 3 at exit.
'use strict';
const Module = require('node:module');
const { writeSync } = require('node:fs');
const loaded = new Set();
const originalLoad = Module._load;
Module._load = function (request, parent, isMain) {
  loaded.add(request);
  return originalLoad.call(this, request, parent, isMain);
};
Module.register(
  'data:text/javascript,' +
    encodeURIComponent(
      'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write("\\u0000esm-load " + s + "\\n"); return r; }',
    ),
);
process.on('exit', () => {
  try {
    writeSync(3, JSON.stringify([...loaded]));
  } catch {
    /* no fd 3 */
  }
});
