# workerd peer for bench/throughput.sh.
# Run: workerd serve bench/peers/workerd_hello.capnp
# (the address can be overridden with: --socket-addr http=127.0.0.1:PORT)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .helloWorker),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:9102", http = (), service = "main"),
  ],
);

const helloWorker :Workerd.Worker = (
  modules = [
    (name = "worker", esModule = embed "workerd_hello.js"),
  ],
  compatibilityDate = "2024-09-23",
);
