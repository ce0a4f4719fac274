//! Compiles proto/ (herald's gRPC service and the CloudEvents protobuf format) into Rust,
//! without a system protoc: protox parses the files (the well-known types included),
//! tonic-prost-build writes the messages and the server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(["herald/v1/herald.proto"], ["proto"])?;
    tonic_prost_build::configure().build_client(false).compile_fds(files)?;
    Ok(())
}
