package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// groups are the keys that hold mappings of other keys.
var groups = map[string]bool{"consumer": true, "producer": true, "consumer.retry": true, "producer.retry": true}

func (c *Config) parseYAML(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: not valid YAML: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	return c.walk(name, "", root)
}

func (c *Config) walk(file, prefix string, n *yaml.Node) error {
	n = deref(n)
	what := "the top level"
	if prefix != "" {
		what = prefix
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s: line %d: %s: got a %s, expected a mapping of keys (%s)", file, n.Line, what, kindName(n), childNames(prefix))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			return fmt.Errorf("config file %s: line %d: in %s: got a %s as a key, expected one of %s", file, kn.Line, what, kindName(kn), childNames(prefix))
		}
		full := kn.Value
		if prefix != "" {
			full = prefix + "." + kn.Value
		}
		if line, dup := seen[kn.Value]; dup {
			return fmt.Errorf("config file %s: line %d: %s is set twice (first at line %d)", file, kn.Line, full, line)
		}
		seen[kn.Value] = kn.Line
		if groups[full] {
			if err := c.walk(file, full, vn); err != nil {
				return err
			}
			continue
		}
		k, ok := keyIndex[full]
		if !ok {
			return fmt.Errorf("config file %s: line %d: unknown key %s (expected one of %s)", file, kn.Line, full, childNames(prefix))
		}
		src := fmt.Sprintf("config file %s line %d", file, vn.Line)
		var text string
		switch {
		case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
			return &ValueError{Source: src, Key: full, Value: "", Expected: k.Expected, Err: errors.New("no value")}
		case vn.Kind == yaml.ScalarNode:
			text = vn.Value
		case vn.Kind == yaml.SequenceNode && k.list:
			items := make([]string, 0, len(vn.Content))
			for _, it := range vn.Content {
				it = deref(it)
				if it.Kind != yaml.ScalarNode || strings.Contains(it.Value, ",") {
					return &ValueError{Source: fmt.Sprintf("config file %s line %d", file, it.Line), Key: full, Value: it.Value, Expected: k.Expected, Err: errors.New("bad item")}
				}
				items = append(items, it.Value)
			}
			text = strings.Join(items, ",")
		default:
			return fmt.Errorf("%s: %s: got a %s, expected %s", src, full, kindName(vn), k.Expected)
		}
		if err := c.Set(full, text, src); err != nil {
			return err
		}
	}
	return nil
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("value %q", n.Value)
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// childNames lists the keys directly under prefix.
func childNames(prefix string) string {
	set := map[string]bool{}
	add := func(name string) {
		rest := name
		if prefix != "" {
			if !strings.HasPrefix(name, prefix+".") {
				return
			}
			rest = strings.TrimPrefix(name, prefix+".")
		}
		if i := strings.Index(rest, "."); i >= 0 {
			rest = rest[:i]
		}
		set[rest] = true
	}
	for _, k := range keys {
		add(k.Name)
	}
	for g := range groups {
		add(g)
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
