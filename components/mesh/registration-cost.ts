// The Node.js SDK captures (and, through source-map-support, source-maps) a stack trace for
// every promise it makes while registering a resource; it only ever shows them when it reports
// leaked promises. For thousands of HostPairs that was the largest single cost of a no-change
// `pulumi up` (docs/benchmarks.md).

/**
 * Runs `register` — synchronous code that only registers resources from facts already
 * validated — with V8's stack trace limit at 0, restoring it afterwards, even on a throw.
 */
export function withoutStackTraces<T>(register: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return register();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
