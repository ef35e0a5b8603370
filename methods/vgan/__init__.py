"""VGAN (Vondrick, Pirsiavash & Torralba 2016): ``vgan``, ``vgan_one_stream``,
``vgan_future``. Importing this package registers them; see README.md."""

from methods.vgan import method  # noqa: F401
