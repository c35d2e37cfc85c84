#!/usr/bin/env bash
# Builds each fuzz target's seed corpus in fuzz/corpus/<target>/ (gitignored)
# from the repository's examples, fixtures and documentation examples, and
# from the shared corpora, read in place (never copied into the repository):
# $MESHC_CORPORA, by default ../shared/corpora beside the project root.
# Files are stored under their content hash, so reruns add nothing twice and
# libFuzzer's own additions stay. Usage: fuzz/seeds.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
CORPORA="${MESHC_CORPORA:-$ROOT/../shared/corpora}"
OUT="$ROOT/fuzz/corpus"

if [ ! -d "$CORPORA" ]; then
    echo "fuzz/seeds.sh: no shared corpora at $CORPORA (set MESHC_CORPORA); seeding from the repository only" >&2
fi

# seed TARGET FILE...: stores each readable regular file under its hash.
seed() {
    local target="$1"
    shift
    mkdir -p "$OUT/$target"
    local file
    for file in "$@"; do
        [ -f "$file" ] || continue
        cp "$file" "$OUT/$target/$(sha1sum "$file" | cut -c1-40)"
    done
}

# files DIR... -- PATTERN...: regular files under the DIRs (those that exist) matching any name pattern.
files() {
    local dirs=() names=()
    while [ "$1" != "--" ]; do
        [ -d "$1" ] && dirs+=("$1")
        shift
    done
    shift
    for pattern in "$@"; do
        names+=(-o -name "$pattern")
    done
    [ "${#dirs[@]}" -gt 0 ] || return 0
    find "${dirs[@]}" -type f \( "${names[@]:1}" \) | sort
}

# The ```kdl blocks of the documentation (the diagnostics' failing and
# fixed examples, the language reference), one seed each.
doc_examples() {
    local tmp
    tmp="$(mktemp -d)"
    find docs -name '*.md' -print0 | sort -z | xargs -0 awk -v dir="$tmp" '
        /^```kdl/ { n++; out = sprintf("%s/%06d.kdl", dir, n); inside = 1; next }
        /^```/ { if (inside) close(out); inside = 0; next }
        inside { print > out }'
    seed front_end "$tmp"/*.kdl
    rm -rf "$tmp"
}

# JWKS files (no repository or corpus has one): public RSA and EC keys, a
# symmetric key and a private key (both of which meshc refuses), and edge shapes.
jwks_seeds() {
    local tmp
    tmp="$(mktemp -d)"
    cat >"$tmp/rsa.json" <<'JSON'
{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}]}
JSON
    cat >"$tmp/ec.json" <<'JSON'
{"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
JSON
    cat >"$tmp/oct.json" <<'JSON'
{"keys":[{"kty":"oct","kid":"h1","k":"GawgguFyGrWKav7AX4VKUg"}]}
JSON
    cat >"$tmp/private.json" <<'JSON'
{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}
JSON
    printf '%s\n' '{"keys":[]}' >"$tmp/empty.json"
    printf '%s\n' '{"kty":"RSA","n":"AQAB","e":"AQAB"}' >"$tmp/bare-key.json"
    seed jwks "$tmp"/*.json
    rm -rf "$tmp"
}

# The front-end workspace holds the shop's schema directories at its root
# (fuzz/src/harness.rs): the shop's nested spec files, with their `../`
# schema paths made root-relative, name real schemas from there.
shop_specs_at_the_root() {
    local tmp file
    tmp="$(mktemp -d)"
    for file in examples/shop/*/*.kdl; do
        sed 's#"\.\./#"#g' "$file" >"$tmp/$(basename "$file")"
    done
    # The whole shop in one file: compiles clean, so its mutations reach every backend.
    mkdir "$tmp/whole"
    {
        grep -vE '^import "(services|topics)/|^import "[a-z]+\.kdl"' examples/shop/mesh.kdl
        cat "$tmp"/*.kdl examples/shop/gateway.kdl examples/shop/security.kdl
    } >"$tmp/whole/shop.kdl"
    seed front_end "$tmp"/*.kdl "$tmp/whole/shop.kdl"
    rm -rf "$tmp"
}

# GitHub's 1.2 MB schema is cut to the targets' max_len: its pieces, cut at
# blank lines, are seeds too.
graphql_parts() {
    local schema="$CORPORA/graphql/github-schema.graphql" tmp
    [ -f "$schema" ] || return 0
    tmp="$(mktemp -d)"
    awk -v dir="$tmp" 'BEGIN { n = 0 } { print > sprintf("%s/%04d.graphql", dir, n); size += length($0) + 1 }
        /^$/ && size > 32768 { close(sprintf("%s/%04d.graphql", dir, n)); n++; size = 0 }' "$schema"
    seed graphql "$tmp"/*.graphql
    rm -rf "$tmp"
}

# Artifact path lists for the writer: what the shop builds (from a previous
# `meshc build examples/shop -o out`, when there is one), and hostile lists.
writer_seeds() {
    local tmp
    tmp="$(mktemp -d)"
    [ -f out/.meshc-output ] && tail -n +2 out/.meshc-output >"$tmp/shop"
    printf '%s\n' envoy/sidecar-a.yaml kubernetes/a.yaml docs/index.html >"$tmp/plain"
    printf '%s\n' ../victim.json /etc/passwd a/../../b ./a '' a//b 'a\b' >"$tmp/escapes"
    printf '%s\n' a a/b A .meshc-output >"$tmp/collisions"
    printf '%s\n' "$(printf 'x%.0s' $(seq 300))" "d/$(printf 'y%.0s' $(seq 300))/z" >"$tmp/long"
    seed writer "$tmp"/*
    rm -rf "$tmp"
}

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(front_end proto openapi graphql avro json_schema jwks writer)
for target in "${targets[@]}"; do
    case "$target" in
    front_end)
        seed front_end $(files examples tests/fixtures stdlib "$CORPORA/kdl/test_cases/input" -- '*.kdl')
        doc_examples
        shop_specs_at_the_root
        ;;
    proto)
        seed proto $(files examples tests/fixtures "$CORPORA/online-boutique/protos" "$CORPORA/protos/google/api" -- '*.proto')
        ;;
    openapi)
        seed openapi $(files examples tests/fixtures "$CORPORA/openapi" -- '*.yaml' '*.yml')
        ;;
    graphql)
        seed graphql $(files examples tests/fixtures "$CORPORA/graphql" -- '*.graphql' '*.graphqls')
        graphql_parts
        ;;
    avro)
        seed avro $(files examples tests/fixtures "$CORPORA/avro" -- '*.avsc')
        ;;
    json_schema)
        seed json_schema $(files examples tests/fixtures -- '*.json')
        # Avro schemas are JSON too: other shapes for the JSON Schema loader.
        seed json_schema $(files "$CORPORA/avro" -- '*.avsc')
        ;;
    jwks)
        jwks_seeds
        seed jwks $(files examples tests/fixtures -- '*.json')
        ;;
    writer)
        writer_seeds
        ;;
    *)
        echo "fuzz/seeds.sh: unknown target $target" >&2
        exit 2
        ;;
    esac
    echo "fuzz/seeds.sh: $target: $(find "$OUT/$target" -type f | wc -l) inputs in fuzz/corpus/$target"
done
