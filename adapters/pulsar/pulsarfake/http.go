package pulsarfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// httpHandler serves what pulsar-client-go asks an http:// service URL:
//
//	GET /lookup/v2/topic/{domain}/{tenant}/{ns}/{topic}          -> {"brokerUrl": ...}
//	GET /admin/v2/{domain}/{tenant}/{ns}/{topic}/partitions      -> {"partitions": n}
//	PUT /admin/v2/{domain}/{tenant}/{ns}/{topic}/partitions      body n: create a partitioned topic
//	DELETE /admin/v2/{domain}/{tenant}/{ns}/{topic}/partitions   delete a partitioned topic
//	DELETE /admin/v2/{domain}/{tenant}/{ns}/{topic}              delete a non-partitioned topic
//
// and the v1 forms (/lookup/v2/destination/..., /admin/{domain}/...).
func (b *Broker) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/lookup/v2/topic/", b.httpLookup("/lookup/v2/topic/"))
	mux.HandleFunc("/lookup/v2/destination/", b.httpLookup("/lookup/v2/destination/"))
	mux.HandleFunc("/admin/v2/", b.httpPartitions("/admin/v2/"))
	mux.HandleFunc("/admin/", b.httpPartitions("/admin/"))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"reason": fmt.Sprintf(format, args...)})
}

// topicFromPath turns "persistent/tenant/ns/topic" (topic query-escaped)
// into a full topic name.
func topicFromPath(p string) (string, error) {
	parts := strings.SplitN(strings.Trim(p, "/"), "/", 4)
	if len(parts) != 4 {
		return "", fmt.Errorf("path %q: expected {domain}/{tenant}/{namespace}/{topic}", p)
	}
	topicName, err := url.QueryUnescape(parts[3])
	if err != nil {
		return "", fmt.Errorf("path %q: topic: %w", p, err)
	}
	return fullTopicName(parts[0] + "://" + parts[1] + "/" + parts[2] + "/" + topicName)
}

func (b *Broker) httpLookup(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			httpError(w, http.StatusMethodNotAllowed, "%s %s: expected GET", r.Method, r.URL.Path)
			return
		}
		if _, err := topicFromPath(strings.TrimPrefix(r.URL.EscapedPath(), prefix)); err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		b.mu.Lock()
		fail := b.faults.failLookups > 0
		if fail {
			b.faults.failLookups--
		}
		addr := b.ln.Addr().String()
		b.mu.Unlock()
		if fail {
			httpError(w, http.StatusServiceUnavailable, "pulsarfake: injected lookup failure")
			return
		}
		hu := b.HTTPURL()
		writeJSON(w, http.StatusOK, map[string]string{
			"brokerUrl":    "pulsar://" + addr,
			"brokerUrlTls": "",
			"httpUrl":      hu,
			"httpUrlTls":   "",
		})
	}
}

func (b *Broker) httpPartitions(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
		if r.Method == http.MethodDelete {
			b.httpDelete(w, p)
			return
		}
		if !strings.HasSuffix(p, "/partitions") {
			httpError(w, http.StatusNotFound, "%s: pulsarfake serves only .../partitions under /admin", r.URL.Path)
			return
		}
		full, err := topicFromPath(strings.TrimSuffix(p, "/partitions"))
		if err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		switch r.Method {
		case http.MethodGet:
			b.mu.Lock()
			n := b.partitioned[full]
			fail := b.faults.failLookups > 0
			if fail {
				b.faults.failLookups--
			}
			b.mu.Unlock()
			if fail {
				httpError(w, http.StatusServiceUnavailable, "pulsarfake: injected lookup failure")
				return
			}
			writeJSON(w, http.StatusOK, map[string]int{"partitions": n})
		case http.MethodPut:
			var n int
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024)).Decode(&n); err != nil {
				httpError(w, http.StatusBadRequest, "body: expected the number of partitions: %v", err)
				return
			}
			if err := b.CreateTopic(full, n); err != nil {
				httpError(w, http.StatusConflict, "%v", err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			httpError(w, http.StatusMethodNotAllowed, "%s %s: expected GET, PUT or DELETE", r.Method, r.URL.Path)
		}
	}
}

// httpDelete deletes the topic of an admin path: ".../partitions" names a
// partitioned topic, anything else a non-partitioned one, as in Pulsar.
// A topic that does not exist (or is not of the kind the path names) is
// 404; one with connected clients 412.
func (b *Broker) httpDelete(w http.ResponseWriter, p string) {
	base, partitioned := strings.CutSuffix(p, "/partitions")
	full, err := topicFromPath(base)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	b.mu.Lock()
	_, isPartitioned := b.partitioned[full]
	b.mu.Unlock()
	if isPartitioned != partitioned {
		httpError(w, http.StatusNotFound, "topic %s not found (partitioned: %v)", full, partitioned)
		return
	}
	switch err := b.DeleteTopic(full); {
	case errors.Is(err, ErrTopicNotFound):
		httpError(w, http.StatusNotFound, "%v", err)
	case err != nil:
		httpError(w, http.StatusPreconditionFailed, "%v", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
