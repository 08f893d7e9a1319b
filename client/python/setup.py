"""Builds the gRPC stubs and the method catalogue from the repository's proto/ at build (install)
time.

The generated modules go to mamba_explain_client/_gen/ (not committed). They are made with the
system protoc and grpc_python_plugin (Debian: protobuf-compiler, protobuf-compiler-grpc), because
the protoc bundled in Debian 12's python3-grpc-tools (3.5) predates proto3 `optional`, which
explain.proto uses. The method catalogue (proto/mamba_explain/v1/methods.json, written by
`mamba-explain methods --json` from src/attribution/methods.h and kept equal to it by the CLI
tests) is copied beside the stubs: the client's method set comes from it, not from a list here.
Set MAMBA_EXPLAIN_PROTO_DIR to build outside the repository.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_DIR = Path(os.environ.get("MAMBA_EXPLAIN_PROTO_DIR", HERE.parent.parent / "proto"))
PROTOS = ["mamba_explain/v1/explain.proto"]
CATALOGUE = "mamba_explain/v1/methods.json"


def generate(out_dir: Path) -> None:
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc is None or plugin is None:
        raise RuntimeError("protoc and grpc_python_plugin are needed "
                           "(apt-get install protobuf-compiler protobuf-compiler-grpc)")
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([protoc, f"--proto_path={PROTO_DIR}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}", f"--plugin=protoc-gen-grpc_python={plugin}",
                    *PROTOS], check=True)
    for d in (out_dir / "mamba_explain", out_dir / "mamba_explain" / "v1"):
        (d / "__init__.py").touch()
    shutil.copyfile(PROTO_DIR / CATALOGUE, out_dir / CATALOGUE)


class BuildPyWithStubs(build_py):
    def run(self):
        generate(HERE / "mamba_explain_client" / "_gen")
        super().run()
        # Copy the generated tree (not a regular package list entry) into the build.
        target = Path(self.build_lib) / "mamba_explain_client" / "_gen"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(HERE / "mamba_explain_client" / "_gen", target)


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithStubs})
