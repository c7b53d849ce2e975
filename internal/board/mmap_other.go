//go:build !unix

package board

type mapping struct{}

func openMapping(string, bool) (mapping, bool) { return mapping{}, false }
func (m *mapping) load(int) (uint64, bool)     { return 0, false }
func (m *mapping) add(int)                     {}
func (m *mapping) close()                      {}
