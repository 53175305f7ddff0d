#!/usr/bin/env bash
# Builds hale's Debian package from a built binary, with Debian's own dpkg-deb.
#
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --target x86_64-unknown-linux-gnu -p hale
#   charts/debian/build-deb.sh            # -> target/debian/hale_<version>_<arch>.deb
#   sudo dpkg -i target/debian/hale_*.deb && sudo systemctl enable --now hale
#
# Usage: build-deb.sh [BINARY] [OUT_DIR]. The package holds the binary, the systemd unit,
# /etc/hale/policies/ with the default policy (a conffile: an edited policy survives
# upgrades), /etc/default/hale, the manual pages and the shell completions, all generated
# by the binary itself so that they always match it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/target/x86_64-unknown-linux-gnu/release/hale}
out=${2:-$root/target/debian}
[ -x "$binary" ] || { echo "build-deb.sh: no binary at $binary (build it first, see the header)" >&2; exit 2; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -Dm755 "$binary" "$stage/usr/bin/hale"
install -Dm644 "$root/charts/systemd/hale.service" "$stage/lib/systemd/system/hale.service"
install -d "$stage/etc/hale/policies"
install -m644 "$root"/policies/*.yaml "$stage/etc/hale/policies/"
install -Dm644 "$root/charts/debian/default" "$stage/etc/default/hale"
"$binary" man "$stage/usr/share/man/man1" >/dev/null
gzip -9n "$stage"/usr/share/man/man1/*.1
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
  "$stage/usr/share/fish/vendor_completions.d"
"$binary" completions bash >"$stage/usr/share/bash-completion/completions/hale"
"$binary" completions zsh >"$stage/usr/share/zsh/vendor-completions/_hale"
"$binary" completions fish >"$stage/usr/share/fish/vendor_completions.d/hale.fish"
install -Dm644 "$root/README.md" "$stage/usr/share/doc/hale/README.md"
install -Dm644 "$root/charts/debian/copyright" "$stage/usr/share/doc/hale/copyright"

install -d "$stage/DEBIAN"
(cd "$stage" && find etc -type f | sed 's|^|/|' | sort) >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  "$root/charts/debian/control" >"$stage/DEBIAN/control"

mkdir -p "$out"
deb="$out/hale_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
