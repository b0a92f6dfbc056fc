"""Teacher/judge providers behind one narrow interface (see base.py); registered by name in registry.py."""
