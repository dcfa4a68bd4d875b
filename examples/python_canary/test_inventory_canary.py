"""A Python canary: the test body drives the agent and is the verification.

Run it like any canary suite:  pytest examples/python_canary --models NAME@URL --repeats 3
"""

import textwrap

import pytest

PROMPT = """\
Add a method `remove(self, item, quantity=1)` to the Inventory class in inventory.py.
It lowers the item's count by `quantity`. It raises ValueError when `quantity` is not
positive or when fewer than `quantity` of the item are in stock, and then changes nothing.
An item whose count reaches 0 is no longer in stock (count() returns 0).
"""

# Written into the worktree only after the agent has finished: the agent never sees it.
HIDDEN_TEST = textwrap.dedent("""\
    import pytest
    from inventory import Inventory

    def test_remove_lowers_the_count():
        inv = Inventory(); inv.add("apple", 5); inv.remove("apple", 2)
        assert inv.count("apple") == 3

    def test_remove_defaults_to_one_and_empties():
        inv = Inventory(); inv.add("pear"); inv.remove("pear")
        assert inv.count("pear") == 0

    @pytest.mark.parametrize("quantity", [0, -1, 3])
    def test_bad_quantities_raise_and_change_nothing(quantity):
        inv = Inventory(); inv.add("fig", 2)
        with pytest.raises(ValueError):
            inv.remove("fig", quantity)
        assert inv.count("fig") == 2

    def test_unknown_item_raises():
        with pytest.raises(ValueError):
            Inventory().remove("kiwi")
""")


@pytest.mark.canary(tier="lite", repo="inventory_repo", tags=["python", "example"])
def test_inventory_remove(agent):
    run = agent.run(PROMPT)
    assert run.files_changed == ["inventory.py"], f"unexpected changes: {run.files_changed}"
    assert "def remove" in agent.read("inventory.py")
    # The hidden test goes only into the check's own tree: the agent never sees it, and the
    # agent's change to protected paths (a conftest.py, say) is left out of that tree.
    check = agent.check("python -m pytest -q test_inventory_hidden.py",
                        files={"test_inventory_hidden.py": HIDDEN_TEST})
    assert check.ok, check.output
