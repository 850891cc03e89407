// Preloaded into Stryker and its test runner processes (NODE_OPTIONS, scripts/mutate.sh).
// @stryker-mutator/mocha-runner 10.0.0 requires Mocha's cli internals by extensionless path
// (mocha/lib/cli/run-helpers, options, collect-files); Mocha 12 renamed them to .cjs, so the
// runner fails to load ("no TestRunner plugins were loaded"). Upstream fix: stryker-js PR 6205.
// This resolves exactly those three requests to their .cjs files and changes nothing else.
const Module = require("node:module");

const MOCHA_CLI = /[\\/]mocha[\\/]lib[\\/]cli[\\/](run-helpers|options|collect-files)$/;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
    return resolve.call(this, MOCHA_CLI.test(request) ? `${request}.cjs` : request, ...rest);
};
