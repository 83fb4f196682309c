// Deno peer for bench/throughput.sh: plain-text hello world.
// Run: deno run --allow-net --allow-env=PORT bench/peers/deno_hello.js
const port = Number(Deno.env.get("PORT") ?? "9101");
Deno.serve({ port, hostname: "127.0.0.1" }, () => new Response("Hello World"));
