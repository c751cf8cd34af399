//! Python nodes: cached `uv` environments and isolated worker processes that
//! exchange Arrow IPC with the runtime.
