package kstructs

func (k *Kernel) LineTableForTest() (int, error) {
	lt, err := k.lineTable()
	if err != nil {
		return 0, err
	}
	return len(lt.aranges), nil
}
