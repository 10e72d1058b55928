import Testing
@testable import Replication

@Suite struct CompressionWorkerBudgetTests {
    @Test func workersAreSharedAndEveryNarGetsOne() {
        let budget = CompressionWorkerBudget(total: 2)
        let first = budget.take(), second = budget.take(), third = budget.take()
        #expect([first, second, third] == [2, 1, 1], "the first takes all; later ones still get one each")
        budget.giveBack(first)
        budget.giveBack(second)
        #expect(budget.take() == 1, "one is still out with the third")
        budget.giveBack(third)
        budget.giveBack(1)
        #expect(budget.take() == 2, "all given back")
    }
}
