#!/usr/bin/env bash
# Debian packages the test suite needs: installed with apt-get when missing (needs root).
set -euo pipefail
needed=()
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
command -v git >/dev/null 2>&1 || needed+=(git)
# The container image test (tests/test_image.py): buildah builds the image, podman runs it,
# debootstrap makes the stand-in base image, runc runs containers where crun cannot.
command -v buildah >/dev/null 2>&1 || needed+=(buildah)
command -v podman >/dev/null 2>&1 || needed+=(podman)
command -v debootstrap >/dev/null 2>&1 || needed+=(debootstrap)
command -v runc >/dev/null 2>&1 || needed+=(runc)
# Spark (tests/test_spark.py, bench/spark_scaling.py): pyspark 4.3 runs on Java 17 or later.
command -v java >/dev/null 2>&1 || needed+=(openjdk-17-jre-headless)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${needed[*]}. Install them (sudo apt-get install ${needed[*]}) and run again." >&2
    exit 1
fi
echo "Installing Debian packages: ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian 13 has no Java 17; its default Java (21) runs Spark 4 too.
if [[ " ${needed[*]} " == *" openjdk-17-jre-headless "* ]] \
    && ! apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
    needed=("${needed[@]/openjdk-17-jre-headless/default-jre-headless}")
fi
# A slim image has no man pages folder, and the Java packages' set-up fails without it.
mkdir -p /usr/share/man/man1
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
