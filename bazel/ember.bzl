"""Project macros: the copts every target gets, tests with the shared main, protos, plugins."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

# Project code is warning-free; system headers are included with -isystem by the toolchain.
EMBER_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

def ember_cc_library(name, copts = [], **kwargs):
    cc_library(name = name, copts = EMBER_COPTS + copts, **kwargs)

def ember_cc_binary(name, copts = [], linkopts = [], host = False, **kwargs):
    """A binary; host = True exports the runtime's symbols so job plugins resolve against it."""
    cc_binary(
        name = name,
        copts = EMBER_COPTS + copts,
        linkopts = linkopts + (["-rdynamic"] if host else []),
        **kwargs
    )

def ember_cc_test(name, deps = [], copts = [], linkopts = [], host = False, **kwargs):
    cc_test(
        name = name,
        copts = EMBER_COPTS + copts,
        linkopts = linkopts + (["-rdynamic"] if host else []),
        deps = deps + ["//bazel:gtest_main"],
        **kwargs
    )

def ember_job_plugin(name, srcs, deps = [], copts = [], **kwargs):
    """Builds lib<name>.so, a job plugin.

    It links only the header-only public API: the runtime's symbols stay undefined and resolve
    against the process that loads it, so a process holds exactly one runtime. Its own symbols
    are hidden, so that two plugins (or a plugin and the process) whose lambdas mangle alike
    never bind to each other's code; only the EMBER_JOB entry points are exported.
    """
    cc_binary(
        name = "lib%s.so" % name,
        srcs = srcs,
        copts = EMBER_COPTS + ["-fvisibility=hidden", "-fvisibility-inlines-hidden"] + copts,
        linkshared = True,
        deps = deps + ["//common:api"],
        **kwargs
    )

def ember_proto_library(name, srcs, deps = [], grpc = False, **kwargs):
    """protoc (+ grpc_cpp_plugin) code generation and a cc_library over the outputs."""
    bases = [s[:-len(".proto")] for s in srcs]
    outs = []
    for b in bases:
        outs += [b + ".pb.h", b + ".pb.cc"]
        if grpc:
            outs += [b + ".grpc.pb.h", b + ".grpc.pb.cc"]
    pkg = native.package_name()
    cmd = "protoc -I. --cpp_out=$(GENDIR)"
    if grpc:
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin"
    cmd += " " + " ".join(["%s/%s" % (pkg, s) for s in srcs])
    native.genrule(
        name = name + "_codegen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = cmd,
    )
    native.filegroup(name = name + "_srcs", srcs = srcs + [d + "_srcs" for d in deps])
    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpc"] if grpc else []),
        **kwargs
    )
