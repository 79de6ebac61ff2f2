// commander requires node:child_process at load time, only to run "executable" subcommands, which
// fluxer does not use. Loading child_process pulls in net, dgram and more (a few ms of every start),
// so inside the bundle commander gets this stand-in that loads the real module on first use.
'use strict';
let real;
module.exports = new Proxy(
  {},
  {
    get(_target, name) {
      real ??= require('node:child_process');
      return real[name];
    },
  },
);
