"""Live monitoring's core: follow growing logs (or a store) and keep the metrics of the windows on screen.

:mod:`mlmon.live.tail` reads only what was appended since the last read, following rotation and
truncation with the code ``mlmon ingest`` uses; :mod:`mlmon.live.state` keeps the recent windows'
compact rows and their metrics, computed with ``mlmon report``'s expressions; :mod:`mlmon.live.feed`
puts them together. Nothing here imports a renderer: ``mlmon dashboard`` draws what it returns.
"""
