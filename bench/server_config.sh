# Sourced by the bench runners (scale, soak, abuse): the server config they share, which keel
# and Headscale both read, and the loopback DERP map it points at. Each runner adds its own keys.

# bench_config DIR PORT BASE_DOMAIN: state in DIR, HTTP on 127.0.0.1:PORT (metrics on PORT+1),
# no embedded DERP (DIR/derp.yaml instead), SQLite, MagicDNS under BASE_DOMAIN.
bench_config() {
  local dir=$1 port=$2 domain=$3
  cat <<YAML
server_url: http://127.0.0.1:$port
listen_addr: 127.0.0.1:$port
metrics_listen_addr: 127.0.0.1:$((port + 1))
grpc_listen_addr: 127.0.0.1:$((port + 2))
unix_socket: $dir/server.sock
noise:
  private_key_path: $dir/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
derp:
  server:
    enabled: false
  urls: []
  paths: [$dir/derp.yaml]
  auto_update_enabled: false
database:
  type: sqlite
  sqlite:
    path: $dir/db.sqlite
dns:
  magic_dns: true
  base_domain: $domain
  override_local_dns: false
log:
  level: warn
YAML
}

# bench_derp_map: one region on loopback; nothing listens there (the runs never relay).
bench_derp_map() {
  cat <<YAML
regions:
  900:
    regionid: 900
    regioncode: lo
    regionname: loopback
    nodes:
      - name: 900a
        regionid: 900
        hostname: 127.0.0.1
        ipv4: 127.0.0.1
        stunport: -1
        derpport: 3340
        insecurefortests: true
YAML
}
