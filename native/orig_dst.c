// getOriginalDst(fd) -> { address, port } | null
// The original destination of a connection redirected by iptables REDIRECT/DNAT, read with
// getsockopt(SOL_IP, SO_ORIGINAL_DST) (IPv4) or (SOL_IPV6, IP6T_SO_ORIGINAL_DST) (IPv6).
// A plain N-API addon with no dependencies, compiled by native/build.sh (never an install hook).
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv4.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value make_result(napi_env env, const char *addr, int port) {
  napi_value obj, a, p;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &a);
  napi_create_int32(env, port, &p);
  napi_set_named_property(env, obj, "address", a);
  napi_set_named_property(env, obj, "port", p);
  return obj;
}

static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value nullv;
  napi_get_null(env, &nullv);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "getOriginalDst(fd) needs a file descriptor");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fd must be a non-negative integer");
    return NULL;
  }
  char buf[INET6_ADDRSTRLEN];
  struct sockaddr_in v4;
  socklen_t len = sizeof(v4);
  memset(&v4, 0, sizeof(v4));
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &v4, &len) == 0 && v4.sin_family == AF_INET) {
    inet_ntop(AF_INET, &v4.sin_addr, buf, sizeof(buf));
    return make_result(env, buf, ntohs(v4.sin_port));
  }
  struct sockaddr_in6 v6;
  len = sizeof(v6);
  memset(&v6, 0, sizeof(v6));
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &v6, &len) == 0 && v6.sin6_family == AF_INET6) {
    inet_ntop(AF_INET6, &v6.sin6_addr, buf, sizeof(buf));
    return make_result(env, buf, ntohs(v6.sin6_port));
  }
  // ENOENT (not redirected) or ENOPROTOOPT (no conntrack): the caller falls back to the local address.
  return nullv;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, get_original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "getOriginalDst", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
