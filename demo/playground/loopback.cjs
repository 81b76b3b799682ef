// loopback.cjs: loaded into the Agents Playground with `node -r` (see demo/playground/__init__.py).
// 1. Every TCP listen() in the process is forced onto 127.0.0.1 (the Playground's
//    express server, its ws servers and its port probe all call listen without a host,
//    i.e. on all interfaces). Unix-socket / handle / fd listens are left alone.
// 2. Every outgoing TCP connect to a non-loopback host is refused (socket destroyed
//    with an error) and logged to stderr as "[loopback] blocked outbound ...": the demo and
//    the tests run offline, and nothing of theirs may leave the machine.
"use strict";
const net = require("net");

const LOOPBACK = "127.0.0.1";
const isLoopback = (h) =>
  h === undefined || h === null || h === "" || h === "localhost" ||
  h === "::1" || h === "[::1]" || /^127\./.test(String(h)) || h === "::ffff:127.0.0.1";

const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a0 = args[0];
  if (a0 !== null && typeof a0 === "object" && !Array.isArray(a0)) {
    // listen(options[, cb]) — leave handle/fd/path listens alone
    if (!("path" in a0) && !("fd" in a0) && !("_handle" in a0) && !("handle" in a0)) {
      args[0] = { ...a0, host: LOOPBACK };
    }
  } else if (typeof a0 === "number" || (typeof a0 === "string" && /^\d+$/.test(a0)) || a0 === undefined) {
    // listen([port[, host[, backlog]]][, cb])
    if (typeof args[1] === "string") args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
    if (a0 === undefined) args[0] = 0;
  }
  return origListen.apply(this, args);
};

const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let opts = args[0];
  if (Array.isArray(opts)) opts = opts[0]; // internal normalized form
  let host;
  if (opts !== null && typeof opts === "object") {
    if (opts.path) return origConnect.apply(this, args); // unix socket
    host = opts.host;
  } else if (typeof opts === "number" || /^\d+$/.test(String(opts))) {
    host = typeof args[1] === "string" ? args[1] : undefined;
  } else {
    return origConnect.apply(this, args); // path
  }
  if (!isLoopback(host)) {
    process.stderr.write(`[loopback] blocked outbound connect to ${host}\n`);
    const err = Object.assign(new Error(`outbound connect to ${host} blocked by loopback.cjs`), { code: "ECONNREFUSED" });
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return origConnect.apply(this, args);
};
