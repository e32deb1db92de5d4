package pulsarfake

import (
	"fmt"
	"strconv"
	"strings"
)

// partitionSuffix separates a partitioned topic's name from the partition index.
const partitionSuffix = "-partition-"

// fullTopicName normalises a topic name to persistent://tenant/ns/topic:
// "t" becomes persistent://public/default/t and "tenant/ns/t" gets the
// persistent:// domain.
func fullTopicName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("pulsarfake: empty topic name, expected [persistent://]tenant/namespace/topic or a short name")
	}
	domain := "persistent"
	rest := name
	if i := strings.Index(name, "://"); i >= 0 {
		domain, rest = name[:i], name[i+3:]
		if domain != "persistent" && domain != "non-persistent" {
			return "", fmt.Errorf("pulsarfake: topic %q: domain %q, expected persistent or non-persistent", name, domain)
		}
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		parts = []string{"public", "default", parts[0]}
	case 3:
	case 4: // v1 names with a cluster: tenant/cluster/ns/topic
	default:
		return "", fmt.Errorf("pulsarfake: topic %q: expected tenant/namespace/topic", name)
	}
	for _, p := range parts {
		if p == "" {
			return "", fmt.Errorf("pulsarfake: topic %q: empty path element", name)
		}
	}
	return domain + "://" + strings.Join(parts, "/"), nil
}

// splitPartition splits "base-partition-N" into base and N; index is -1 for
// a name without a partition suffix.
func splitPartition(full string) (base string, index int) {
	i := strings.LastIndex(full, partitionSuffix)
	if i < 0 {
		return full, -1
	}
	n, err := strconv.Atoi(full[i+len(partitionSuffix):])
	if err != nil || n < 0 {
		return full, -1
	}
	return full[:i], n
}

// partitionName returns the name of partition i of base.
func partitionName(base string, i int) string {
	return base + partitionSuffix + strconv.Itoa(i)
}
