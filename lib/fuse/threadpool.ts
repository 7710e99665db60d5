// Imported first by the ufsmount entry point: sizes libuv's thread pool before any I/O starts it.
// libfuse sends many requests at once, each waiting on a pool thread for its file operation.

/** Pool threads for a server (libuv's default of 4 would serialise concurrent requests). */
export const SERVER_THREADPOOL_SIZE = 64;

process.env.UV_THREADPOOL_SIZE ??= String(SERVER_THREADPOOL_SIZE);
