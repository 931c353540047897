"""The README's two first-screen commands, read from the README itself (CI runs the test
command from here, and ``readme_test.py`` runs both in a fresh clone)."""

import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def first_screen_commands() -> tuple[str, str]:
    """(install-and-quickstart command, test command): the first two ```bash blocks."""
    with open(README, encoding="utf-8") as stream:
        blocks = re.findall(r"```bash\n(.*?)```", stream.read(), flags=re.S)
    if len(blocks) < 2:
        raise ValueError(f"{README}: fewer than two ```bash blocks on the first screen")
    return blocks[0].strip(), blocks[1].strip()


def test_command() -> str:
    return first_screen_commands()[1]


def variant_example() -> tuple[str, str]:
    """(file text, registered name) of the README's "your variant against the zoo"
    example: the first ```python block after that sentence."""
    with open(README, encoding="utf-8") as stream:
        text = stream.read()
    start = text.index("Your variant against the zoo is one file and one command")
    source = re.search(r"```python\n(.*?)```", text[start:], flags=re.S).group(1)
    name = re.search(r'register\("correlation", "([^"]+)"\)', source).group(1)
    return source, name
