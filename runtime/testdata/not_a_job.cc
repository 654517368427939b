// A shared library with no EMBER_JOB entry point.
extern "C" int some_function() { return 42; }
