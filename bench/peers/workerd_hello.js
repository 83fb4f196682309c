// workerd peer for bench/throughput.sh (module worker, loaded by workerd_hello.capnp).
export default {
  fetch() {
    return new Response("Hello World");
  },
};
