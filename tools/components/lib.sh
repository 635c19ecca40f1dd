# Shared by the component scripts: `apt_install PACKAGE...` installs the missing Debian packages as root,
# refreshing the package lists once (a fresh machine's lists may be empty or old).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "components: cannot install ${missing[*]} (needs root and apt-get); install them by hand"
    return 1
  fi
  if [ -z "${COMPONENTS_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && export COMPONENTS_APT_UPDATED=1
  fi
  echo "components: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
