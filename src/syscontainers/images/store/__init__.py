"""The image store: one package around one libostree door.

- ``Store`` (store.py): the public surface every other package uses (list, resolve, tag,
  delete, prune, verify, import, write_image, and the merged tree: checkout, read_file,
  list_dir).
- ``Repo`` (repo.py): the only module that imports gi/libostree; it turns every GLib error
  into a one-line StoreError. Loaded lazily, on the first access to the repository.
- merge.py, layer_import.py, prune.py, verify.py, checkout.py: the store's work, over a Repo.

See docs/architecture.md, "Store seam".
"""

from .store import Store

__all__ = ["Store"]
