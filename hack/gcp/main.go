// Reference ADS server for `make bench` scenario 4: go-control-plane's snapshot cache and
// SOTW server, serving the same shape Weft's control plane serves for the xDS benchmark:
// N services -> N EDS clusters + N ClusterLoadAssignments (5 endpoints each), one HTTP
// listener on port 8080 with RDS, and one RouteConfiguration "8080" with a virtual host per
// service. svc-0 routes by weight to subsets v1/v2; POST /change on the control port flips
// that weight (90 <-> 80) and sets a new snapshot version: the "one change".
// The RouteConfiguration carries what Weft's carries for the same services (Istio's): the 10
// domains a client may use (FQDN, short names, ClusterIP, each with and without :8080), route
// timeout 0, Istio's default retry policy, the allow_any catch-all virtual host, and
// validate_clusters false; so both servers push a RouteConfiguration of the same size.
// Every node shares one snapshot (constant node hash), like sidecars of one workload.
// Listens on 127.0.0.1 only. Prints "ADS <port>" and "CTL <port>" on stdout when ready.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const port = 8080

type oneHash struct{}

func (oneHash) ID(*corev3.Node) string { return "bench" }

func host(i int) string { return fmt.Sprintf("svc-%d.bench.svc.cluster.local", i) }
func clusterName(i int, subset string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host(i))
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(10 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads(), ServiceName: name},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
}

func assignment(name string, i int, from, to int) *endpointv3.ClusterLoadAssignment {
	eps := []*endpointv3.LbEndpoint{}
	for e := from; e < to; e++ {
		n := i*5 + e
		eps = append(eps, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: fmt.Sprintf("10.88.%d.%d", n>>8, n&255), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
			}}},
		}}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}}
}

// Istio's default retry policy, as Weft (src/xds/translate/routes.ts) sends it on every route.
func retryPolicy(previousHosts *anypb.Any) *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:                       "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
		RetriableStatusCodes:          []uint32{503},
		NumRetries:                    wrapperspb.UInt32(2),
		RetryHostPredicate:            []*routev3.RetryPolicy_RetryHostPredicate{{Name: "envoy.retry_host_predicates.previous_hosts", ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHosts}}},
		HostSelectionRetryMaxAttempts: 5,
	}
}

// The names a client in namespace bench may use for svc-i: FQDN, short forms, ClusterIP; each
// bare and with the port.
func domains(i int) []string {
	var out []string
	for _, h := range []string{host(i), fmt.Sprintf("svc-%d.bench.svc", i), fmt.Sprintf("svc-%d.bench", i), fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.96.%d.%d", i>>8, i&255)} {
		out = append(out, h, fmt.Sprintf("%s:%d", h, port))
	}
	return out
}

func build(services, weight int, version string) (*cachev3.Snapshot, error) {
	var clusters, endpoints []types.Resource
	vhosts := make([]*routev3.VirtualHost, 0, services+1)
	previousHosts, err := anypb.New(&previoushostsv3.PreviousHostsPredicate{})
	if err != nil {
		return nil, err
	}
	for i := 0; i < services; i++ {
		name := clusterName(i, "")
		clusters = append(clusters, cluster(name))
		endpoints = append(endpoints, assignment(name, i, 0, 5))
		routeName := "default"
		action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name}}
		if i == 0 {
			routeName = "bench/svc-0.0"
			v1, v2 := clusterName(0, "v1"), clusterName(0, "v2")
			clusters = append(clusters, cluster(v1), cluster(v2))
			endpoints = append(endpoints, assignment(v1, 0, 0, 3), assignment(v2, 0, 3, 5))
			action = &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
				{Name: v1, Weight: wrapperspb.UInt32(uint32(weight))},
				{Name: v2, Weight: wrapperspb.UInt32(uint32(100 - weight))},
			}}}}
		}
		action.Timeout = durationpb.New(0)
		action.RetryPolicy = retryPolicy(previousHosts)
		vhosts = append(vhosts, &routev3.VirtualHost{
			Name:    fmt.Sprintf("%s:%d", host(i), port),
			Domains: domains(i),
			Routes:  []*routev3.Route{{Name: routeName, Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: &routev3.Route_Route{Route: action}}},
		})
	}
	clusters = append(clusters, &clusterv3.Cluster{Name: "PassthroughCluster", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}, LbPolicy: clusterv3.Cluster_CLUSTER_PROVIDED, ConnectTimeout: durationpb.New(10 * time.Second)})
	vhosts = append(vhosts, &routev3.VirtualHost{
		Name:    "allow_any",
		Domains: []string{"*"},
		Routes: []*routev3.Route{{Name: "allow_any", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "PassthroughCluster"}, Timeout: durationpb.New(0)}}}},
	})
	rc := &routev3.RouteConfiguration{Name: strconv.Itoa(port), VirtualHosts: vhosts, ValidateClusters: wrapperspb.Bool(false)}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	manager := &hcmv3.HttpConnectionManager{
		StatPrefix:     "outbound_0.0.0.0_8080",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: ads(), RouteConfigName: rc.Name}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	}
	mgrAny, err := anypb.New(manager)
	if err != nil {
		return nil, err
	}
	lis := &listenerv3.Listener{
		Name:         "0.0.0.0_8080",
		Address:      &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mgrAny}}}}},
	}
	snap, err := cachev3.NewSnapshot(version, map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  clusters,
		resourcev3.EndpointType: endpoints,
		resourcev3.ListenerType: {lis},
		resourcev3.RouteType:    {rc},
	})
	if err != nil {
		return nil, err
	}
	// Per-type versions: only the routes change, so only RDS is pushed again (as Weft does);
	// one snapshot-wide version would resend all four types to every client.
	for _, t := range []resourcev3.Type{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType} {
		snap.Resources[cachev3.GetResponseType(t)].Version = "1"
	}
	return snap, nil
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		log.Fatal(err)
	}
	return l
}

func main() {
	services := flag.Int("services", 1000, "number of services")
	flag.Parse()
	ctx := context.Background()
	cache := cachev3.NewSnapshotCache(false, oneHash{}, nil)
	var mu sync.Mutex
	weight, version := 90, 1
	snap, err := build(*services, weight, strconv.Itoa(version))
	if err != nil {
		log.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		log.Fatal(err)
	}
	if err := cache.SetSnapshot(ctx, "bench", snap); err != nil {
		log.Fatal(err)
	}
	srv := serverv3.NewServer(ctx, cache, nil)
	g := grpc.NewServer(grpc.MaxConcurrentStreams(1 << 20))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, srv)
	adsL, ctlL := listen(), listen()
	go func() { log.Fatal(g.Serve(adsL)) }()

	mux := http.NewServeMux()
	mux.HandleFunc("/change", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if weight == 90 {
			weight = 80
		} else {
			weight = 90
		}
		version++
		s, err := build(*services, weight, strconv.Itoa(version))
		if err == nil {
			err = cache.SetSnapshot(ctx, "bench", s)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d\n", version)
	})
	fmt.Printf("ADS %d\nCTL %d\n", adsL.Addr().(*net.TCPAddr).Port, ctlL.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	log.Fatal(http.Serve(ctlL, mux))
}
