#!/usr/bin/env -S node --max-old-space-size=1024
// Installed entry point: runs the compiled command line. The heap cap is about growth,
// not the limit: with a limit of 2 GB or more V8 lets the heap grow to about 4x its live
// size between full collections, with a smaller limit far less, so a long `etl` run
// stays close to its small live set (measured in bench/, see README).
import '../dist/cli.js';
