#!/usr/bin/env node
// Installed entry point: runs the compiled command line.
import '../dist/cli.js';
