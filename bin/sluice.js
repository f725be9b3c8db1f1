#!/usr/bin/env -S node --max-semi-space-size=32
// A young generation of 32 MB semi-spaces instead of V8's 16 MB: a busy server allocates tens of KB per message,
// and half as many scavenges cost it 10-20 µs less CPU per delivered message (npm run bench) for ~30 MB more
// resident memory at peak. Set here because V8 reads it only at start; `node bin/sluice.js` runs without it.
import { main } from "../dist/src/cli.js";

main(process.argv).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
