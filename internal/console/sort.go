package console

import (
	"maps"
	"slices"
	"sort"
)

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func sortBySeq(es []*findingEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
}
