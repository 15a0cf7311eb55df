"""Deploy targets behind one interface (`base.Target`), chosen by `base.choose_target`."""
