extension AsyncStream.Continuation where Element: Comparable & Sendable {
    /// Yields `element` to a stream that buffers only its newest element (`.bufferingNewest(1)`),
    /// without letting it replace a stronger element the consumer has not taken yet: a pending
    /// `.overflow` wake or `.stop` signal must not turn into a weaker one.
    func yieldKeepingStrongest(_ element: Element) {
        if case .dropped(let older) = yield(element), older > element {
            yield(older)
        }
    }
}
