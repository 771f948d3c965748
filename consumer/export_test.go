package consumer

// WaitingForTokens is how many of tenant's submissions this pipeline's
// workers count as waiting for the upstream budget (turns.go), for tests.
func (p *Pipeline) WaitingForTokens(tenant string) int {
	p.turns.mu.Lock()
	defer p.turns.mu.Unlock()
	return p.turns.waiting[tenant]
}
