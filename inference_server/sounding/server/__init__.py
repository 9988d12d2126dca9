"""The ZeroMQ inference server: a ROUTER loop (sockets only) and a worker thread that owns the Engine."""
