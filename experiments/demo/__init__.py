"""The demo's recipe: task, tiny reasoner, benchmark files and the asset build (``build_assets.sh``)."""
