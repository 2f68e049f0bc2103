"""URL converters. `id` is Django's int, bounded: a 30-digit id must be a 404, not an
integer overflow in the database driver (a 500)."""


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
