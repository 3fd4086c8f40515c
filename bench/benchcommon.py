"""What bench/mime_python.py and bench/send_python.py share."""


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def recipient(names, i):
    """Recipient i (0-based): name, address and subject, as bench/common.lua gives them."""
    name = names[i % len(names)]
    return name, "reader%d@example.org" % i, "Your November news, " + name
