"""The portal's views: thin entry points (authorise, call one service or read model, render)."""
