# Sourced by tests/run.sh and benches/e2e/run.sh: `ensure_venv ROOT` creates ROOT/.venv with the
# pinned official clients (tests/python/requirements.txt), reused while the requirements are
# unchanged, and sets `venv` to its path.
ensure_venv() {
    venv="$1/.venv"
    local req="$1/tests/python/requirements.txt"
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.requirements"; then
        printf '\n== %s\n' "creating Python venv with the official clients" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
        cp "$req" "$venv/.requirements"
    fi
}
