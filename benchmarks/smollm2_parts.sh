# Sourced by the GPU scripts: the packaged SmolLM2 GGUF (98 MB) travels to the device in two parts over two
# calls (a call carries 64 MiB): part a kept outside the checkout by the first call, part b and its sha256
# carried by the second (`bash benchmarks/run_determinism_gpu.sh prepare` makes both).

# join_smollm2_parts PART_DIR: prints the path of the joined GGUF when both parts are here and its sha256
# matches, else nothing.
join_smollm2_parts() {
    [ -f "$1/part-a" ] && [ -f .carry/smollm2-b/part-b ] || return 0
    local file=/tmp/smollm2-gguf/SmolLM2-135M-Instruct.Q4_1.gguf  # a folder of its own: transformers reads the folder
    mkdir -p /tmp/smollm2-gguf && cat "$1/part-a" .carry/smollm2-b/part-b > "$file"
    if [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$(cat .carry/smollm2-b/SHA256)" ]; then echo "$file"; fi
}
