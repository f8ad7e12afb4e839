"""Developer tools that are not tests: the demo, the extension build, benchmarks, model evidence."""
