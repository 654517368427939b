"""A repository rule that turns pkg-config modules into cc_library targets.

gRPC alone links against ~90 libraries (the Abseil it was built with, re2, c-ares, ssl...);
pkg-config knows the list for the installed version, a hand-written one would not.
"""

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config", flag] + modules.split(" "))
    if result.return_code != 0:
        fail("pkg-config %s %s failed (run ./setup.sh to install the packages): %s" %
             (flag, modules, result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in sorted(ctx.attr.libraries.items()):
        cflags = _pkg_config(ctx, "--cflags", modules)
        libs = _pkg_config(ctx, "--libs", modules)
        defines = [f[2:] for f in cflags if f.startswith("-D")]
        lines.append("cc_library(")
        lines.append('    name = "%s",' % name)
        lines.append("    defines = %s," % repr(defines))
        lines.append("    linkopts = %s," % repr(libs + ["-lpthread"]))
        lines.append(")")
        lines.append("")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", "\n".join(lines))

system_libs = repository_rule(
    implementation = _system_libs_impl,
    attrs = {"libraries": attr.string_dict(mandatory = True)},
    environ = ["PKG_CONFIG_PATH"],
    local = True,
)
